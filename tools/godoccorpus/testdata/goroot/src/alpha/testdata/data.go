// Package data must be skipped: it lives in testdata.
package data

func Skipped() {}
