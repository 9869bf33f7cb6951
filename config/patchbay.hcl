# Patchbay development configuration: what `make run` serves.
# Relative paths resolve against the working directory (the repository root
# under `make run`). Secrets are written as env("NAME") (or
# env("NAME", "default")) and never stored in this file. See README.md and
# docs/operations.md.

data_dir   = "./data"
plugin_dir = "./bin/plugins" # plugins are found as patchbay-plugin-<kind>

http {
  listen = "127.0.0.1:8080"
  # public_url      = "https://help.acme.test"  # where /hooks/<channel> is reachable from outside
  # max_webhook_bytes = 1048576                  # 413 beyond this (default 1 MiB)
  # max_body_bytes    = 1048576                  # API request bodies (default 1 MiB)
}

tickets {
  auto_close_after = "96h" # the standard automation closes solved tickets after this long;
                           # set at every start until an admin edits it through the API (docs/rules.md)
}

outbox {
  max_attempts = 20    # retryable send failures before a reply is marked failed (a plugin outage is not one: the reply waits)
  max_backoff  = "10m" # cap on the wait between two attempts
  # workers         = 128 # replies sent at once (at most workers / provider latency per second)
  # channel_workers = 96  # the most one channel sends at once, so a slow provider cannot take every
  #                       # worker (default: all of them with one channel, 3/4 with several)
}

# Per-token API request limit: a safety net against a runaway script (429 with
# Retry-After beyond it), not a quota. These are the defaults.
# rate_limit {
#   requests_per_minute = 3000 # sustained rate per token; 0 turns the limit off
#   burst               = 600  # requests a token may send at once
# }

# One block per channel instance; the label is the instance name
# (/hooks/support, ticket.channel).
channel "support" {
  plugin = "email"
  brand  = "acme"
  # sha256 = "…"  # optional pin: `sha256sum bin/plugins/patchbay-plugin-email`

  attachments {
    allow       = [".pdf", ".png", ".jpeg", ".jpg", ".gif", ".txt"] # the default
    max_size_mb = 20
  }

  config { # opaque to the core, validated by the plugin
    smtp_listen = "127.0.0.1:2525"
    address     = "support@acme.test"
    outbound    = "dir:./data/outbound-mail" # or smtp://user:pass@relay:587
  }
}

# channel "it-help" {
#   plugin = "slack"
#   config {
#     signing_secret = env("SLACK_SIGNING_SECRET")
#     bot_token      = env("SLACK_BOT_TOKEN")
#   }
# }
