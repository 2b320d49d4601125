package main

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// pebbleLog sends Pebble's own log lines (WAL recovery, compactions'
// troubles) through the service's zerolog logger, so that every line the
// indexer writes is one JSON object.
type pebbleLog struct{ log zerolog.Logger }

func (l pebbleLog) Infof(format string, args ...any) {
	l.log.Info().Str("component", "pebble").Msg(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l pebbleLog) Errorf(format string, args ...any) {
	l.log.Error().Str("component", "pebble").Msg(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Fatalf is called by Pebble on corruption it cannot continue from; it
// must not return.
func (l pebbleLog) Fatalf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	l.log.WithLevel(zerolog.FatalLevel).Str("component", "pebble").Msg(msg)
	panic("pebble: " + msg)
}
