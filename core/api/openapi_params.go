package api

import (
	"encoding/json"
	"fmt"
	"strings"
)

// documentQueryParams reads the OpenAPI document and returns, for each
// operation as a route pattern ("GET /api/v1/tickets"), the names of the
// query parameters it declares (path-level and operation-level, following
// $refs to #/components/parameters). The server refuses any other query
// parameter on that route with 422, so the document and the server cannot
// disagree about what a route takes.
func documentQueryParams(doc []byte) (map[string][]string, error) {
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	var d struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("api: openapi.json: %w", err)
	}
	resolve := func(p param) (param, error) {
		if p.Ref == "" {
			return p, nil
		}
		name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
		target, found := d.Components.Parameters[name]
		if !ok || !found {
			return p, fmt.Errorf("api: openapi.json: unresolved parameter %s", p.Ref)
		}
		return target, nil
	}
	queryNames := func(raw json.RawMessage) ([]string, error) {
		var ps []param
		if len(raw) == 0 {
			return nil, nil
		}
		if err := json.Unmarshal(raw, &ps); err != nil {
			return nil, err
		}
		var out []string
		for _, p := range ps {
			p, err := resolve(p)
			if err != nil {
				return nil, err
			}
			if p.In == "query" {
				out = append(out, p.Name)
			}
		}
		return out, nil
	}
	out := map[string][]string{}
	for path, item := range d.Paths {
		common, err := queryNames(item["parameters"])
		if err != nil {
			return nil, fmt.Errorf("api: openapi.json %s: %w", path, err)
		}
		for method, raw := range item {
			switch method {
			case "get", "post", "put", "patch", "delete":
			default:
				continue
			}
			var op struct {
				Parameters json.RawMessage `json:"parameters"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("api: openapi.json %s %s: %w", method, path, err)
			}
			names, err := queryNames(op.Parameters)
			if err != nil {
				return nil, fmt.Errorf("api: openapi.json %s %s: %w", method, path, err)
			}
			out[strings.ToUpper(method)+" "+path] = append(append([]string{}, common...), names...)
		}
	}
	return out, nil
}
