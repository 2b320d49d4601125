// Package dep must be skipped: it is vendored.
package dep

func Skipped() {}
