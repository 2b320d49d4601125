package auth

import (
	"fmt"
	"os"
	"strings"
)

// Settings are the guard's settings as configured: flags and environment.
type Settings struct {
	// Mode is "on" (keys required) or "off" (-auth, TERMFLOW_AUTH). The
	// default value is "on"; "off" is for local development only.
	Mode string
	// Keys are key entries (TERMFLOW_API_KEYS, environment only, so that
	// secrets never show in a process list). The default value is "".
	Keys string
	// KeysFile is a file of key entries, one per line (-api-keys-file,
	// TERMFLOW_API_KEYS_FILE). The default value is "".
	KeysFile string
	// Rate and Burst are the per-key request rate (-rate-limit,
	// TERMFLOW_RATE_LIMIT, requests per second, 0 for none) and burst
	// (-rate-burst, TERMFLOW_RATE_BURST). The default values are 100 and 200.
	Rate  int
	Burst int
}

// Config loads the keys and returns the guard's configuration.
func (s Settings) Config() (Config, error) {
	c := Config{Rate: float64(s.Rate), Burst: s.Burst}
	switch s.Mode {
	case "off":
		c.Disabled = true
		if s.Keys != "" || s.KeysFile != "" {
			return c, fmt.Errorf("TERMFLOW_AUTH=off but API keys are configured: remove them or turn auth on")
		}
		return c, nil
	case "on":
	default:
		return c, fmt.Errorf("auth %q: want on or off", s.Mode)
	}
	text := s.Keys
	if s.KeysFile != "" {
		b, err := os.ReadFile(s.KeysFile)
		if err != nil {
			return c, fmt.Errorf("read API keys file: %w", err)
		}
		text = strings.Join([]string{text, string(b)}, "\n")
	}
	keys, err := ParseKeys(text)
	if err != nil {
		return c, err
	}
	c.Keys = keys
	return c, c.Validate()
}
