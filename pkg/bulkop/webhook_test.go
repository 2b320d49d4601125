package bulkop

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/termflow/termflow/pkg/progress"
)

func TestWebhooksSurviveJSON(t *testing.T) {
	now := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	s, err := New("op_01M8K27083HD13A4VGBXZ73VK0", "books", 2, 150, now)
	if err != nil {
		t.Fatal(err)
	}
	s.AddWebhook("http://a/hook")
	s.AddWebhook("http://b/hook")
	s.AddWebhook("http://a/hook")
	if got := s.PendingWebhooks(); got != nil {
		t.Fatalf("pending before terminal: %v", got)
	}
	s.Accept(now)
	if _, err := s.Apply(progress.Message{Operation: s.ID(), Stage: progress.Persisted, Seqs: progress.Ranges{{0, 1}}}, now); err != nil {
		t.Fatal(err)
	}
	if got := s.PendingWebhooks(); !slices.Equal(got, []string{"http://a/hook", "http://b/hook"}) {
		t.Fatalf("pending %v", got)
	}
	if !s.MarkNotified("http://a/hook", Completed) || s.MarkNotified("http://a/hook", Completed) || s.MarkNotified("http://c", Completed) {
		t.Fatal("MarkNotified reported wrong changes")
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var r State
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if got := r.PendingWebhooks(); !slices.Equal(got, []string{"http://b/hook"}) {
		t.Fatalf("pending after round trip %v (%s)", got, b)
	}
	c := r.Clone()
	c.MarkNotified("http://b/hook", Completed)
	if len(r.PendingWebhooks()) != 1 || len(c.PendingWebhooks()) != 0 {
		t.Fatal("clone shares webhooks")
	}
	v := r.View()
	if v.IndexedDocuments != 2 || v.PersistedDocuments != 2 || v.FailedDocuments != 0 {
		t.Fatalf("view %+v", v)
	}
}
