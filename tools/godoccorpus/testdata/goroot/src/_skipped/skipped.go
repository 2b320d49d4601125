// Package skipped must be skipped: directories starting with _ are ignored.
package skipped

func Skipped() {}
