// Package flagenv binds command-line flags to environment variables: a flag
// given on the command line wins, then the environment variable, then the
// default.
package flagenv

import (
	"flag"
	"fmt"
	"strconv"
	"time"
)

// Set is a flag set whose flags read defaults from an environment.
type Set struct {
	*flag.FlagSet
	getenv func(string) string
	errs   []error
}

// New returns a Set reading the environment through getenv.
func New(name string, getenv func(string) string) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &Set{FlagSet: fs, getenv: getenv}
}

func (s *Set) env(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	v := s.getenv(name)
	return v, v != ""
}

func usage(u, env string) string {
	if env == "" {
		return u
	}
	return u + " (env " + env + ")"
}

// String binds a string flag.
func (s *Set) String(p *string, name, env, def, u string) {
	if v, ok := s.env(env); ok {
		def = v
	}
	s.StringVar(p, name, def, usage(u, env))
}

// Int binds an int flag.
func (s *Set) Int(p *int, name, env string, def int, u string) {
	if v, ok := s.env(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	s.IntVar(p, name, def, usage(u, env))
}

// Bool binds a bool flag.
func (s *Set) Bool(p *bool, name, env string, def bool, u string) {
	if v, ok := s.env(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a boolean", env, v))
		} else {
			def = b
		}
	}
	s.BoolVar(p, name, def, usage(u, env))
}

// Duration binds a duration flag.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, u string) {
	if v, ok := s.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a duration", env, v))
		} else {
			def = d
		}
	}
	s.DurationVar(p, name, def, usage(u, env))
}

// Parse parses args and reports the first bad environment value.
func (s *Set) Parse(args []string) error {
	if err := s.FlagSet.Parse(args); err != nil {
		return err
	}
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	return nil
}

// Getenv reads an environment variable through the Set's getenv, for
// settings that must not be flags (secrets would show in process lists).
func (s *Set) Getenv(name string) string { return s.getenv(name) }
