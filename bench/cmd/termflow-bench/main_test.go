package main

import "testing"

func TestLauncherFerretDB(t *testing.T) {
	if got, want := launcherFerretDB("../../.."), "v1.24.2 (embedded, tools/ferretdb)"; got != want {
		t.Fatalf("launcherFerretDB = %q, want %q", got, want)
	}
	if got := launcherFerretDB(t.TempDir()); got != "unknown" {
		t.Fatalf("without a launcher: %q, want unknown", got)
	}
}
