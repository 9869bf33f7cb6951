package api

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// maxJSONDepth bounds nesting in request bodies (encoding/json allows
// 10,000 levels; no request of this API needs more than a few).
const maxJSONDepth = 32

// checkDuplicates walks a syntactically valid JSON document and reports
// the first object member given twice (encoding/json would silently keep
// the last) or nesting deeper than maxJSONDepth, as a 422 naming the path.
func checkDuplicates(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkJSON(dec, "", 0)
}

func walkJSON(dec *json.Decoder, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonSyntaxError(err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if depth >= maxJSONDepth {
		return invalidField(path, "is nested deeper than %d levels", maxJSONDepth)
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return jsonSyntaxError(err)
			}
			k, _ := kt.(string)
			p := joinPath(path, k)
			if seen[k] {
				if k == "" {
					p += `""`
				}
				return invalidField(p, "is given more than once")
			}
			seen[k] = true
			if err := walkJSON(dec, p, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := walkJSON(dec, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return jsonSyntaxError(err)
	}
	return nil
}
