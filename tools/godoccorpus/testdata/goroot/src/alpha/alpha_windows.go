package alpha

// WindowsOnly is excluded: the extractor documents linux/amd64 first.
func WindowsOnly() {}
