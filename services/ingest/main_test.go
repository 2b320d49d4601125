package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

func TestRunRejectsBadConfig(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		err  string
	}{
		{args: []string{"-batch-size", "0"}, err: "batch size 0"},
		{env: map[string]string{"TERMFLOW_MAX_BODY_BYTES": "lots"}, err: "not an integer"},
		{env: map[string]string{"KAFKA_BROKERS": " , "}, err: "no Kafka brokers"},
		{args: []string{"-h"}, err: flag.ErrHelp.Error()},
		{err: "no API keys configured"},
		{args: []string{"-auth", "maybe"}, err: `auth "maybe": want on or off`},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v %v: err %v, want %q", tt.args, tt.env, err, tt.err)
		}
	}
}
