// Package rules is Patchbay's business-rules engine, modelled on Zendesk:
//
//   - triggers: ordered condition/action rules evaluated after every ticket
//     create or update, read from the store's durable event log with a
//     persisted cursor advanced in the same transaction as the actions, so
//     a crash neither loses nor doubles them;
//   - automations: time-based rules ("hours since solved > 96") evaluated
//     on a schedule, each firing once per ticket per qualifying state (a
//     firing marker is kept until the conditions stop matching);
//   - macros: action bundles an agent applies to one ticket (or previews);
//   - views: saved ticket filters in the same condition language;
//   - per-channel auto-replies: a first-response message on new tickets;
//   - outgoing webhooks: signed (HMAC-SHA256 over "timestamp.body"),
//     persisted deliveries retried with backoff, with a delivery log.
//
// Engine.Run starts the trigger follower, the automation scheduler and the
// webhook deliverer. Definitions live in the store under their own key
// prefix (store.Tx.PutRuleValue). See docs/rules.md.
package rules
