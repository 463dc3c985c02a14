package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var decodeFieldsSeeds = []string{
	``, ` `, "\v", `{}`, ` { } `, `[]`, `"x"`, `1`, `null`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`,
	`{"a":1}x`, `{"a":1}{}`, `{"a":1} `, "{\"a\":1}\n", `{,"a":1}`, `{"a" : 1 , "b" : [1, {"c": "}"}] }`,
	`{"Title":"x","title":"y"}`, `{"title":"y","Title":"x"}`, `{"a":"\"}\\"}`, `{"a\"b":1}`, `{"\u0041":2}`,
	`{"a":true,"b":false,"c":null,"d":-0.5e+3}`, `{"a":tru}`, `{"a":01}`, `{"a":1.}`, `{"a":"\ud800"}`,
	"{\"a\":\"\xff\"}", "{\"a\":\"\t\"}", `{"a":[[[[]]]]}`, `{"a":{"b":{"c":{}}}}`, `{"a":[1,2,]}`,
	`{"CaseId":"20260126-ABCD","Title":"UPDATED: x 1","Description":"Users are unable"}`,
	`{"a":1 2}`, `{"a" 1}`, `{1:2}`, `{"a":-}`, `{"a":"x"` + "\x00" + `}`, "\ufeff{}",
	"{\"a\":1\t,\r\n\"b\":\"\\u00e9\" ,\"c\":[ ] }", `{"":0,"":1}`, `{"a":"é","É":"x"}`,
}

// checkSplitAgrees checks that, for every body json.Valid accepts as an
// object, the fast walk gives exactly what json.Decoder's token loop gives.
func checkSplitAgrees(t *testing.T, body []byte) {
	t.Helper()
	object := trimJSONSpace(body)
	if len(object) == 0 || object[0] != '{' || !json.Valid(object) {
		return
	}
	got, gotErr := splitObject(object)
	want, wantErr := decodeFieldsWithDecoder(object)
	if gotErr != wantErr || !reflect.DeepEqual(got, want) {
		t.Fatalf("body %.200q: splitObject gives %.200q, %v; the token loop gives %.200q, %v", body, got, gotErr, want, wantErr)
	}
}

func TestSplitObjectAgreesWithTokenLoop(t *testing.T) {
	for _, body := range decodeFieldsSeeds {
		checkSplitAgrees(t, []byte(body))
	}
}

func FuzzSplitObject(f *testing.F) {
	for _, body := range decodeFieldsSeeds {
		f.Add([]byte(body))
	}
	f.Fuzz(checkSplitAgrees)
}

// The limit of 10,000 levels applies to each value, not to the body.
func TestDecodeFieldsNestingLimit(t *testing.T) {
	for _, c := range []struct {
		levels int
		ok     bool
	}{{9_999, true}, {10_000, true}, {10_001, false}} {
		body := `{"a":` + strings.Repeat("[", c.levels) + strings.Repeat("]", c.levels) + `}`
		f, err := decodeFields([]byte(body))
		if ok := err == nil && len(f["a"]) == 2*c.levels; ok != c.ok {
			t.Errorf("%d levels: got %d bytes of a, %v; want ok=%v", c.levels, len(f["a"]), err, c.ok)
		}
	}
}

func BenchmarkDecodeFields(b *testing.B) {
	body := []byte(`{"CaseId":"20260126-ABCD","Title":"UPDATED: Issue with sweepstakes entry 12345","Description":"Users are unable to submit entries on both mobile and desktop versions"}`)
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeFields(body)
		}
	})
	b.Run("token-loop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeFieldsWithDecoder(body)
		}
	})
}
