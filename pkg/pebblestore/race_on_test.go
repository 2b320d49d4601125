//go:build race

package pebblestore

// raceEnabled shortens the crash test: the race detector makes Pebble ~10x slower.
const raceEnabled = true
