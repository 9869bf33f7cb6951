package sdk_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/patchbayhq/patchbay/sdk"
)

type decodeTarget struct {
	Token   string `json:"token"`
	Port    int    `json:"port"`
	Enabled bool   `json:"enabled"`
}

func TestConfigureRequestDecode(t *testing.T) {
	cases := []struct {
		name      string
		config    string
		want      decodeTarget
		wantField string // "" with wantErr: a field-less FieldError
		wantErr   bool
	}{
		{name: "valid", config: `{"token":"t","port":25,"enabled":true}`, want: decodeTarget{Token: "t", Port: 25, Enabled: true}},
		{name: "empty config", config: ``},
		{name: "empty object", config: `{}`},
		{name: "unknown field", config: `{"tokn":"t"}`, wantErr: true, wantField: "tokn"},
		{name: "wrong type", config: `{"port":"25"}`, wantErr: true, wantField: "port"},
		{name: "syntax error", config: `{"token":`, wantErr: true},
		{name: "trailing data", config: `{"token":"t"} {"port":1}`, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got decodeTarget
			err := sdk.ConfigureRequest{Config: json.RawMessage(c.config)}.Decode(&got)
			if !c.wantErr {
				if err != nil || got != c.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
				}
				return
			}
			var fe sdk.FieldErrors
			if !errors.As(err, &fe) || len(fe) != 1 {
				t.Fatalf("err = %v, want one FieldError", err)
			}
			if fe[0].Field != c.wantField || fe[0].Message == "" {
				t.Errorf("field error %+v, want field %q", fe[0], c.wantField)
			}
		})
	}
}

// FuzzConfigureRequestDecode: any configuration either decodes or gives
// FieldErrors, never a panic or another kind of error.
func FuzzConfigureRequestDecode(f *testing.F) {
	for _, s := range []string{`{"token":"t","port":1}`, `{"port":"x"}`, `{"zz":1}`, `[`, `null`, `{"token":{"a":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v decodeTarget
		err := sdk.ConfigureRequest{Config: data}.Decode(&v)
		var fe sdk.FieldErrors
		if err != nil && (!errors.As(err, &fe) || len(fe) == 0) {
			t.Errorf("Decode(%q) = %v, not FieldErrors", data, err)
		}
	})
}
