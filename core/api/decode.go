package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeJSON decodes body strictly into v (a pointer to a struct): exactly
// one JSON object, field names matched exactly (not case-insensitively),
// no unknown or repeated fields at any depth, nesting of at most
// maxJSONDepth levels, every value of its field's type.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return malformed("request body is empty; send a JSON object")
	}
	// encoding/json would replace invalid UTF-8 with U+FFFD and store a
	// text the client never sent: refuse it instead.
	if !utf8.Valid(body) {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidField,
			Message: fmt.Sprintf("request body is not valid UTF-8 (first invalid byte at offset %d); JSON text must be UTF-8", firstInvalidUTF8(body))}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return jsonSyntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformed("unexpected data after the JSON object")
	}
	obj, ok := generic.(map[string]any)
	if !ok {
		return badRequest("", "request body must be a JSON object")
	}
	if err := checkDuplicates(body); err != nil {
		return err
	}
	if off := loneSurrogate(body); off >= 0 {
		// "\ud800" alone is not a character: encoding/json would store
		// U+FFFD instead, a text the client never sent.
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidField,
			Message: fmt.Sprintf("request body has an unpaired UTF-16 surrogate escape at byte %d; JSON text must encode valid Unicode", off)}
	}
	if err := checkValue(obj, reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	strict := json.NewDecoder(bytes.NewReader(body))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalidField(te.Field, "must be %s", describeType(te.Type))
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			return unknownField(strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`))
		}
		return malformed("invalid JSON: %s", cleanJSONError(err))
	}
	return nil
}

func jsonSyntaxError(err error) *Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return malformed("malformed JSON at byte %d: %s", se.Offset, cleanJSONError(err))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return malformed("malformed JSON: unexpected end of input")
	}
	return malformed("malformed JSON: %s", cleanJSONError(err))
}

func cleanJSONError(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// firstInvalidUTF8 returns the offset of the first byte of b that does not
// start a valid UTF-8 sequence (len(b) when there is none).
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// loneSurrogate returns the offset of the first \u escape in body (valid
// JSON) that is half of a UTF-16 surrogate pair without its other half,
// or -1.
func loneSurrogate(body []byte) int {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 >= len(body) {
			continue
		}
		if body[i+1] != 'u' {
			i++ // an escaped character: skip it (it may be a backslash)
			continue
		}
		r, ok := hex4(i)
		switch {
		case !ok:
			return i
		case r >= 0xd800 && r < 0xdc00:
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return i
			}
			i += 11
		case r >= 0xdc00 && r <= 0xdfff:
			return i
		default:
			i += 5
		}
	}
	return -1
}

// elemTyper is implemented by optional[T]: a field that distinguishes
// absent, null and a value.
type elemTyper interface{ elemType() reflect.Type }

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	elemTyperType  = reflect.TypeFor[elemTyper]()
)

// checkValue checks a generically decoded JSON value against the Go type
// it will be decoded into, returning the first problem with its JSON path.
func checkValue(val any, t reflect.Type, path string) *Error {
	if t == rawMessageType {
		return nil
	}
	if reflect.PointerTo(t).Implements(elemTyperType) {
		if val == nil {
			return nil
		}
		et := reflect.New(t).Interface().(elemTyper).elemType()
		return checkValue(val, et, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if val == nil {
			return nil
		}
		return checkValue(val, t.Elem(), path)
	case reflect.Interface:
		return nil
	case reflect.Struct:
		obj, ok := val.(map[string]any)
		if !ok {
			return typeMismatch(path, t)
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			ft, ok := fields[k]
			if !ok {
				return unknownField(joinPath(path, k))
			}
			if err := checkValue(obj[k], ft, joinPath(path, k)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if val == nil {
			return nil
		}
		obj, ok := val.(map[string]any)
		if !ok {
			return typeMismatch(path, t)
		}
		for _, k := range sortedKeys(obj) {
			if err := checkValue(obj[k], t.Elem(), joinPath(path, k)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if val == nil {
			return nil
		}
		arr, ok := val.([]any)
		if !ok {
			return typeMismatch(path, t)
		}
		for i, e := range arr {
			if err := checkValue(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if _, ok := val.(string); !ok {
			return typeMismatch(path, t)
		}
	case reflect.Bool:
		if _, ok := val.(bool); !ok {
			return typeMismatch(path, t)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := val.(json.Number)
		if !ok {
			return typeMismatch(path, t)
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return typeMismatch(path, t)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := val.(json.Number)
		if !ok {
			return typeMismatch(path, t)
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return typeMismatch(path, t)
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := val.(json.Number); !ok {
			return typeMismatch(path, t)
		}
	}
	return nil
}

func typeMismatch(path string, t reflect.Type) *Error {
	return invalidField(path, "must be %s", describeType(t))
}

func describeType(t reflect.Type) string {
	if reflect.PointerTo(t).Implements(elemTyperType) {
		return describeType(reflect.New(t).Interface().(elemTyper).elemType()) + " or null"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a valid value"
}

// jsonFields maps the JSON names of t's exported fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		out[name] = f.Type
	}
	return out
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// sortedKeys gives a deterministic order so that the first reported
// problem is stable.
func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// optional is a request field that tells absent (Set false), null (Null
// true) and a value apart, for PATCH bodies.
type optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records that the field was present.
func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(bytes.TrimSpace(b)) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

func (optional[T]) elemType() reflect.Type { return reflect.TypeFor[T]() }
