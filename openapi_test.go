package main

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The rules the contract sets for openapi.json that can be checked without
// running a generator (.ci/openapi-clients runs them): info.license and
// info.contact, placeholders in backticks, no request field with a default,
// no request body whose top level is a combination, and no name that a
// generator makes for itself.

type jsonObject = map[string]any

func loadOpenAPI(t *testing.T) jsonObject {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc jsonObject
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return doc
}

// resolve follows local $refs ("#/components/schemas/X").
func resolve(doc jsonObject, v any) jsonObject {
	o, _ := v.(jsonObject)
	for o != nil {
		ref, ok := o["$ref"].(string)
		if !ok {
			break
		}
		var next any = doc
		for _, k := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := next.(jsonObject)
			next = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(k)]
		}
		o, _ = next.(jsonObject)
	}
	return o
}

// operations calls f for every operation of the document.
func operations(doc jsonObject, f func(method, path string, op jsonObject)) {
	paths, _ := doc["paths"].(jsonObject)
	for path, item := range paths {
		for method, op := range item.(jsonObject) {
			if op, ok := op.(jsonObject); ok && op["responses"] != nil {
				f(method, path, op)
			}
		}
	}
}

func TestOpenAPIInfo(t *testing.T) {
	info, _ := loadOpenAPI(t)["info"].(jsonObject)
	license, _ := info["license"].(jsonObject)
	if license["name"] == nil || (license["identifier"] == nil && license["url"] == nil) {
		t.Errorf("info.license = %v, want a name and an identifier or url", info["license"])
	}
	if contact, _ := info["contact"].(jsonObject); len(contact) == 0 {
		t.Errorf("info.contact = %v, want it set", info["contact"])
	}
}

// TestOpenAPIPlaceholdersQuoted: a `<placeholder>` outside backticks is read
// as an HTML tag by the tools that render descriptions, and disappears.
func TestOpenAPIPlaceholdersQuoted(t *testing.T) {
	code := regexp.MustCompile("`[^`]*`")
	tag := regexp.MustCompile(`<[^<>\s][^<>]*>`)
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case jsonObject:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "description" || k == "summary") {
					if bad := tag.FindAllString(code.ReplaceAllString(s, ""), -1); bad != nil {
						t.Errorf("%s/%s: %q outside backticks", at, k, bad)
					}
				}
				walk(at+"/"+k, x)
			}
		case []any:
			for _, x := range v {
				walk(at+"/[]", x)
			}
		}
	}
	walk("#", loadOpenAPI(t))
}

// TestOpenAPIRequestBodies: openapi-typescript types a field with a default
// as always present, and a top-level anyOf/oneOf/allOf erases a body's type
// in some generators; a request body has neither (a default is told in the
// field's description instead).
func TestOpenAPIRequestBodies(t *testing.T) {
	doc := loadOpenAPI(t)
	operations(doc, func(method, path string, op jsonObject) {
		body := resolve(doc, op["requestBody"])
		if body == nil {
			return
		}
		for mediaType, media := range body["content"].(jsonObject) {
			schema := resolve(doc, media.(jsonObject)["schema"])
			at := method + " " + path + " " + mediaType
			for _, k := range []string{"anyOf", "oneOf", "allOf"} {
				if schema[k] != nil {
					t.Errorf("%s: the body schema has a top-level %s", at, k)
				}
			}
			props, _ := schema["properties"].(jsonObject)
			for name, p := range props {
				if _, ok := resolve(doc, p)["default"]; ok {
					t.Errorf("%s: field %s has a default", at, name)
				}
			}
		}
	})
}

// TestOpenAPINamesFree: no schema is named as something oapi-codegen or
// openapi-typescript generates itself: per operation <Op>Response,
// <Op>JSONRequestBody, <Op>Params and the like, their fixed client and
// server names, the type oapi-codegen makes for an enum property
// (<Schema><Property>), or the constants it makes for enum values.
func TestOpenAPINamesFree(t *testing.T) {
	doc := loadOpenAPI(t)
	taken := map[string]string{}
	for _, name := range []string{"Client", "ClientInterface", "ClientOption", "ClientWithResponses",
		"ClientWithResponsesInterface", "HttpRequestDoer", "RequestEditorFn", "ServerInterface",
		"ServerInterfaceWrapper", "EchoRouter", "RegisterHandlersOptions", "StrictServerInterface",
		"paths", "components", "operations", "webhooks", "$defs"} {
		taken[name] = "a generator's own name"
	}
	operations(doc, func(method, path string, op jsonObject) {
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s %s has no operationId", method, path)
			return
		}
		g := goName(id)
		for _, name := range []string{g + "Response", g + "JSONRequestBody", g + "JSONBody", g + "Params",
			g + "RequestObject", g + "ResponseObject", "New" + g + "Request", "Parse" + g + "Response"} {
			taken[name] = "generated for operation " + id
		}
	})
	schemas, _ := doc["components"].(jsonObject)["schemas"].(jsonObject)
	for schema, s := range schemas {
		props, _ := s.(jsonObject)["properties"].(jsonObject)
		for prop, p := range props {
			p := p.(jsonObject)
			if p["enum"] != nil || p["const"] != nil {
				taken[schema+goName(prop)] = "the type of enum property " + schema + "." + prop
			}
			values, _ := p["enum"].([]any)
			for _, v := range append(values, p["const"]) {
				if v, ok := v.(string); ok {
					taken[goName(v)] = "the constant for value " + v + " of " + schema + "." + prop
				}
			}
		}
	}
	var names []string
	for name := range schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if why, ok := taken[name]; ok {
			t.Errorf("schema %s collides with %s", name, why)
		}
	}
}

// goName is oapi-codegen's name for an identifier: each word capitalized,
// separators dropped.
func goName(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r == '-' || r == '_' || r == ' ' || r == '.':
			up = true
		case up:
			b.WriteString(strings.ToUpper(string(r)))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
