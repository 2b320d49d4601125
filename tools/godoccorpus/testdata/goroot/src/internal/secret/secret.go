// Package secret must be skipped: it is internal.
package secret

func Skipped() {}
