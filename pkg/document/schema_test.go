package document

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestSchemaAgreesWithDecode checks that schemas/document-envelope.v1.json
// accepts what Decode accepts and rejects what it rejects, so producers
// outside the project can validate against the schema.
func TestSchemaAgreesWithDecode(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "schemas", "document-envelope.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://termflow.dev/schemas/document-envelope.v1.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		value string
		ok    bool
	}{
		{`{"v":1,"index":"books","id":"1","doc":{"t":"x"}}`, true},
		{`{"v":1,"index":"books","id":7,"doc":{}}`, true},
		{`{"v":1,"index":"books","id":"1","delete":true}`, true},
		{`{"v":2,"index":"books","id":"1","doc":{}}`, false},
		{`{"v":1,"index":"Books","id":"1","doc":{}}`, false},
		{`{"v":1,"index":"books","doc":{}}`, false},
		{`{"v":1,"index":"books","id":"1"}`, false},
		{`{"v":1,"index":"books","id":"1","doc":[1]}`, false},
		{`{"v":1,"index":"books","id":true,"doc":{}}`, false},
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.value))
		if err != nil {
			t.Fatal(err)
		}
		schemaOK := sch.Validate(inst) == nil
		_, decodeErr := Decode(nil, []byte(tt.value), 0)
		if schemaOK != tt.ok || (decodeErr == nil) != tt.ok {
			t.Errorf("%s: schema ok=%v, Decode err=%v, want ok=%v", tt.value, schemaOK, decodeErr, tt.ok)
		}
	}
	var _ = json.Valid
}
