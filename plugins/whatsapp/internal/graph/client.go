// Package graph is a small client for the few WhatsApp Cloud API (Meta Graph
// API) calls the WhatsApp channel needs: send a message, upload media, look
// up a media URL and download it, and read the phone number's profile.
package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/patchbayhq/patchbay/sdk"
)

// DefaultBaseURL is the Graph API base, version included, used when the
// configuration names none.
const DefaultBaseURL = "https://graph.facebook.com/v24.0"

// maxJSONResponse caps the JSON answers read from the Graph API.
const maxJSONResponse = 1 << 20

// ErrTooLarge is returned by Download when the file exceeds the limit.
var ErrTooLarge = errors.New("media file exceeds the size limit")

// Client calls the Graph API for one business phone number. It is safe for
// concurrent use.
type Client struct {
	base          string
	phoneNumberID string
	token         string
	hc            *http.Client
	now           func() time.Time
}

// New returns a client. baseURL includes the API version
// (https://graph.facebook.com/v24.0); hc nil means a client with a 60 s
// timeout.
func New(baseURL, phoneNumberID, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{
		base:          strings.TrimRight(baseURL, "/"),
		phoneNumberID: phoneNumberID,
		token:         token,
		hc:            hc,
		now:           time.Now,
	}
}

// SendMessage posts one message to /{phone-number-id}/messages and returns
// the new message's id (wamid).
func (c *Client) SendMessage(ctx context.Context, m *Message) (string, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(c.phoneNumberID, "messages"), bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	var out SendResponse
	if err := c.doJSON(req, &out); err != nil {
		return "", err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return "", &APIError{HTTPStatus: http.StatusOK, Message: "send answer carries no message id"}
	}
	return out.Messages[0].ID, nil
}

// UploadMedia streams a file to /{phone-number-id}/media as multipart form
// data and returns the media id to send it by.
func (c *Client) UploadMedia(ctx context.Context, filename, contentType string, r io.Reader) (string, error) {
	pr, pw := io.Pipe()
	mw := newMultipart(pw)
	written := make(chan struct{})
	go func() {
		defer close(written)
		pw.CloseWithError(mw.writeUpload(filename, contentType, r))
	}()
	// The writer must be done with r before the caller closes it: unblock
	// it (should the server have answered early) and wait.
	finish := func() {
		pr.CloseWithError(io.ErrClosedPipe)
		<-written
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(c.phoneNumberID, "media"), pr)
	if err != nil {
		finish()
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", mw.contentType())
	var out struct {
		ID string `json:"id"`
	}
	err = c.doJSON(req, &out)
	finish()
	if err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", &APIError{HTTPStatus: http.StatusOK, Message: "upload answer carries no media id"}
	}
	return out.ID, nil
}

// MediaInfo is the answer to GET /{media-id}: a short-lived download URL and
// the file's type, size and hash.
type MediaInfo struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	// FileSize is the size in bytes; Meta sends it as a string or a number.
	FileSize FlexInt `json:"file_size"`
}

// GetMedia looks up a media id received in a webhook.
func (c *Client) GetMedia(ctx context.Context, mediaID string) (*MediaInfo, error) {
	u := c.endpoint(mediaID) + "?phone_number_id=" + url.QueryEscape(c.phoneNumberID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	var out MediaInfo
	if err := c.doJSON(req, &out); err != nil {
		return nil, err
	}
	if out.URL == "" {
		return nil, &APIError{HTTPStatus: http.StatusOK, Message: "media answer carries no url"}
	}
	return &out, nil
}

// Download fetches a media URL (from GetMedia) with the bearer token and
// copies it to w, failing with ErrTooLarge past max bytes (max <= 0: no
// limit). It returns the number of bytes written.
func (c *Client) Download(ctx context.Context, mediaURL string, w io.Writer, max int64) (int64, error) {
	u, err := url.Parse(mediaURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return 0, fmt.Errorf("media url is not an http(s) url")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	resp, err := c.do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, c.readError(resp)
	}
	if max > 0 && resp.ContentLength > max {
		return 0, ErrTooLarge
	}
	src := io.Reader(resp.Body)
	if max > 0 {
		src = io.LimitReader(resp.Body, max+1)
	}
	n, err := io.Copy(w, src)
	if err != nil {
		return n, fmt.Errorf("download media: %w", err)
	}
	if max > 0 && n > max {
		return n, ErrTooLarge
	}
	return n, nil
}

// PhoneNumber is the business phone number's profile.
type PhoneNumber struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
}

// GetPhoneNumber reads the configured phone number's profile; it proves the
// access token and phone number id are valid.
func (c *Client) GetPhoneNumber(ctx context.Context) (*PhoneNumber, error) {
	u := c.endpoint(c.phoneNumberID) + "?fields=id,display_phone_number,verified_name"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	var out PhoneNumber
	if err := c.doJSON(req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) endpoint(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = url.PathEscape(p)
	}
	return c.base + "/" + strings.Join(esc, "/")
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "patchbay-whatsapp/1")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("graph api %s %s: %w", req.Method, req.URL.Path, scrub(err))
	}
	return resp, nil
}

func (c *Client) doJSON(req *http.Request, out any) error {
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return c.readError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONResponse)).Decode(out); err != nil {
		return fmt.Errorf("graph api %s %s: decode answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// readError turns a non-2xx answer into an *APIError.
func (c *Client) readError(resp *http.Response) error {
	e := &APIError{
		HTTPStatus: resp.StatusCode,
		RetryAfter: sdk.ParseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}
	var env struct {
		Error struct {
			Message      string `json:"message"`
			Type         string `json:"type"`
			Code         int    `json:"code"`
			ErrorSubcode int    `json:"error_subcode"`
			FBTraceID    string `json:"fbtrace_id"`
			ErrorData    struct {
				Details string `json:"details"`
			} `json:"error_data"`
		} `json:"error"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxJSONResponse))
	if json.Unmarshal(data, &env) == nil && (env.Error.Code != 0 || env.Error.Message != "") {
		e.Code = env.Error.Code
		e.Subcode = env.Error.ErrorSubcode
		e.Type = env.Error.Type
		e.Message = env.Error.Message
		e.Details = env.Error.ErrorData.Details
		e.TraceID = env.Error.FBTraceID
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// scrub drops the request URL from transport errors: media URLs carry
// signed query strings that have no place in logs.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
