//go:build ignore

// This generator is excluded by its build constraint.
package main

func main() {}
