// Command tool must be skipped: cmd/ is not library documentation.
package main

func main() {}
