// Package hidden must be skipped: it is internal.
package hidden

func Skipped() {}
