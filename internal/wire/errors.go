package wire

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sdk "github.com/patchbayhq/patchbay/internal/wire/sdktypes"
)

// ErrNoHost is returned by the Host of a plugin configured without a host
// service (a host that only validates configuration).
var ErrNoHost = errors.New("no host service: the core configured this plugin without one")

// errBadUpload marks an attachment stream that broke the upload protocol
// (size or digest mismatch, missing header). It becomes InvalidArgument.
type errBadUpload struct{ msg string }

// Error describes the broken upload.
func (e *errBadUpload) Error() string { return "bad attachment upload: " + e.msg }

// toStatus turns a Go error from an implementation into a gRPC status error
// for the other side. Status errors pass through; context errors keep their
// code; sdk.ErrNotFound becomes NotFound.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var bad *errBadUpload
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, sdk.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.As(err, &bad):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrNoHost):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// RemoteError is an error that crossed the plugin boundary: the call that
// failed, and the gRPC status it failed with. status.Code works on it, and
// errors.Is matches context.Canceled, context.DeadlineExceeded and
// sdk.ErrNotFound for the corresponding codes.
type RemoteError struct {
	Op     string
	Status *status.Status
}

// Error returns "op: message".
func (e *RemoteError) Error() string { return e.Op + ": " + e.Status.Message() }

// GRPCStatus lets status.FromError and status.Code see the original status.
func (e *RemoteError) GRPCStatus() *status.Status { return e.Status }

// Is maps status codes back to the sentinels they came from.
func (e *RemoteError) Is(target error) bool {
	switch e.Status.Code() {
	case codes.NotFound:
		return target == sdk.ErrNotFound
	case codes.Canceled:
		return target == context.Canceled
	case codes.DeadlineExceeded:
		return target == context.DeadlineExceeded
	case codes.FailedPrecondition:
		return target == ErrNoHost && e.Status.Message() == ErrNoHost.Error()
	}
	return false
}

// fromStatus turns an error returned by a gRPC call into a RemoteError
// naming op. A non-status error is wrapped as it is.
func fromStatus(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	return &RemoteError{Op: op, Status: st}
}
