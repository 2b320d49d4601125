package config

import (
	"fmt"

	"github.com/termflow/termflow/pkg/flagenv"
	"github.com/termflow/termflow/services/ingest/internal/api"
	"github.com/termflow/termflow/services/ingest/internal/auth"
)

// Security is the access control and the request limits of the API.
type Security struct {
	// Auth are the API key settings (-auth TERMFLOW_AUTH "on",
	// TERMFLOW_API_KEYS, -api-keys-file TERMFLOW_API_KEYS_FILE, -rate-limit
	// TERMFLOW_RATE_LIMIT 100, -rate-burst TERMFLOW_RATE_BURST 200); see
	// package auth.
	Auth auth.Settings
	// Guard is Auth with the keys loaded, set by Parse.
	Guard auth.Config
	// Limits bound documents and queries (-max-documents
	// TERMFLOW_MAX_DOCUMENTS 100000, -max-fields TERMFLOW_MAX_FIELDS 1000,
	// -max-depth TERMFLOW_MAX_DEPTH 100, -max-string-bytes
	// TERMFLOW_MAX_STRING_BYTES 65536, -max-query-bytes
	// TERMFLOW_MAX_QUERY_BYTES 4096, -max-query-terms TERMFLOW_MAX_QUERY_TERMS
	// 64); see api.Limits.
	Limits api.Limits

	loadErr error // of load, reported by validate
}

// securityFlags registers the flags of s.
func securityFlags(fs *flagenv.Set, getenv func(string) string, s *Security) {
	d := api.DefaultLimits()
	fs.String(&s.Auth.Mode, "auth", "TERMFLOW_AUTH", "on", "API keys required (on), or not at all (off: local development only)")
	s.Auth.Keys = getenv("TERMFLOW_API_KEYS") // environment only: no secrets in process lists
	fs.String(&s.Auth.KeysFile, "api-keys-file", "TERMFLOW_API_KEYS_FILE", "", "file of API keys, one name:permission:secret a line")
	fs.Int(&s.Auth.Rate, "rate-limit", "TERMFLOW_RATE_LIMIT", 100, "requests per second per API key (0: no limit)")
	fs.Int(&s.Auth.Burst, "rate-burst", "TERMFLOW_RATE_BURST", 200, "requests per API key at once above the rate")
	fs.Int(&s.Limits.MaxDocuments, "max-documents", "TERMFLOW_MAX_DOCUMENTS", d.MaxDocuments, "documents per bulk request")
	fs.Int(&s.Limits.MaxFields, "max-fields", "TERMFLOW_MAX_FIELDS", d.MaxFields, "fields per document")
	fs.Int(&s.Limits.MaxDepth, "max-depth", "TERMFLOW_MAX_DEPTH", d.MaxDepth, "nesting of objects and arrays in a document")
	fs.Int(&s.Limits.MaxStringBytes, "max-string-bytes", "TERMFLOW_MAX_STRING_BYTES", d.MaxStringBytes, "longest string in a document")
	fs.Int(&s.Limits.MaxQueryBytes, "max-query-bytes", "TERMFLOW_MAX_QUERY_BYTES", d.MaxQueryBytes, "longest search query")
	fs.Int(&s.Limits.MaxQueryTerms, "max-query-terms", "TERMFLOW_MAX_QUERY_TERMS", d.MaxQueryTerms, "terms of a search query")
}

// load loads the keys; called once the flags are parsed. An error is
// reported by validate, with the other errors of the configuration.
func (s *Security) load() {
	s.Guard, s.loadErr = s.Auth.Config()
}

// validate checks the limits.
func (s Security) validate() error {
	if err := s.Limits.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if s.loadErr != nil {
		return fmt.Errorf("auth: %w", s.loadErr)
	}
	if err := s.Guard.Validate(); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}
