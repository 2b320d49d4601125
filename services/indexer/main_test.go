package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestParse(t *testing.T) {
	env := map[string]string{"TERMFLOW_SESSION_TIMEOUT": "12s", "TERMFLOW_SHUTDOWN_TIMEOUT": "7s",
		"TERMFLOW_LEAVE_GROUP_ON_SHUTDOWN": "false", "TERMFLOW_INSTANCE_ID": "ix-2"}
	c, err := parse(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionTimeout != 12*time.Second || c.ShutdownTimeout != 7*time.Second || c.LeaveGroupOnShutdown || c.InstanceID != "ix-2" {
		t.Fatalf("parsed %+v", c.Config)
	}
	c, err = parse(nil, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionTimeout != 20*time.Second || c.ShutdownTimeout != 30*time.Second || !c.LeaveGroupOnShutdown ||
		c.MaxDocumentBytes != 1<<20 || c.MaxPollRecords != 20000 || c.Group != "termflow-indexer" {
		t.Fatalf("defaults %+v", c.Config)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		env map[string]string
		err string
	}{
		{map[string]string{"TERMFLOW_SESSION_TIMEOUT": "10ms"}, "session timeout"},
		{map[string]string{"TERMFLOW_SHUTDOWN_TIMEOUT": "0s"}, "shutdown timeout"},
		{map[string]string{"TERMFLOW_SHUTDOWN_TIMEOUT": "soon"}, "not a duration"},
		{map[string]string{"TERMFLOW_INSTANCE_ID": "../x"}, "instance id"},
		{map[string]string{"TERMFLOW_MAX_DOCUMENT_BYTES": "100000000"}, "max-document-bytes"},
	} {
		err := run(context.Background(), nil, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: err %v, want %q", tt.env, err, tt.err)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunStopsGracefully: run creates the topics, becomes ready, and a
// cancel (SIGTERM) makes it leave the group and return nil.
func TestRunStopsGracefully(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ops := ln.Addr().String()
	ln.Close()
	env := map[string]string{"KAFKA_BROKERS": strings.Join(c.ListenAddrs(), ","), "TERMFLOW_DATA_DIR": t.TempDir(),
		"TERMFLOW_OPS_ADDR": ops, "TERMFLOW_DOCUMENTS_PARTITIONS": "2", "TERMFLOW_SHUTDOWN_TIMEOUT": "5s"}
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &logs) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + ops + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
	if !strings.Contains(logs.String(), "left the group") || !strings.Contains(logs.String(), "indexer stopped") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}
