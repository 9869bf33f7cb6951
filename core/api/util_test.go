package api

import (
	"strconv"

	"github.com/patchbayhq/patchbay/sdk"
)

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func sdkStatus(state string) sdk.Status { return sdk.Status{State: state} }

func sdkPolicy(allow []string, max int64) sdk.AttachmentPolicy {
	return sdk.AttachmentPolicy{Allow: allow, MaxBytes: max}
}
