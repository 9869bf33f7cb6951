package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// contractDoc is the embedded OpenAPI document, loaded and validated once
// for the test binary, with a router over its paths (servers dropped, so
// that the loopback test server's address matches).
var contractDoc = sync.OnceValues(func() (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	errSchema := doc.Components.Schemas["Error"]
	return &contract{doc: doc, router: router, errSchema: errSchema}, nil
})

type contract struct {
	doc       *openapi3.T
	router    routers.Router
	errSchema *openapi3.SchemaRef
}

// checkContract validates an answer against the OpenAPI document: the
// route's documented statuses, headers and body schema. An answer to a
// path the document does not know (a 404 or 405 of the catch-all) must be
// the documented error shape. It returns a description of the mismatch.
func checkContract(req *http.Request, status int, header http.Header, body []byte) error {
	c, err := contractDoc()
	if err != nil {
		return err
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s answered %d but the document has no such operation (%v)", req.Method, req.URL.Path, status, err)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("%s %s: %d answer is not JSON: %v", req.Method, req.URL.Path, status, err)
		}
		return c.errSchema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// TestOpenAPIDocumentValid loads the document with the validator the
// suite uses: it must be a valid OpenAPI 3.1 document.
func TestOpenAPIDocumentValid(t *testing.T) {
	c, err := contractDoc()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q", c.doc.OpenAPI)
	}
}

// The contract check fails on answers the document does not allow (it is
// not a check that passes everything).
func TestContractCheckRejectsDrift(t *testing.T) {
	get := func(path string) *http.Request {
		r, _ := http.NewRequest("GET", "http://127.0.0.1"+path, nil)
		return r
	}
	js := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name   string
		req    *http.Request
		status int
		body   string
	}{
		{"undocumented status", get("/api/v1/tickets/1"), 418, `{"error":{"code":"x","message":"y"}}`},
		{"ticket without members", get("/api/v1/tickets/1"), 200, `{"id":1}`},
		{"error shape wrong", get("/api/v1/tickets/1"), 404, `{"message":"nope"}`},
		{"unknown path, not an error", get("/api/v1/nothing"), 404, `{"ok":true}`},
		{"unknown path, success", get("/api/v1/nothing"), 200, `{}`},
	}
	for _, tc := range cases {
		if err := checkContract(tc.req, tc.status, js, []byte(tc.body)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
