// Package deps pins the benchmark module's dependencies until the packages
// that use them land; it is removed once they do.
package deps

import (
	_ "github.com/blevesearch/bleve/v2"
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/rs/zerolog"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "go.mongodb.org/mongo-driver/v2/mongo"
	_ "golang.org/x/sync/errgroup"

	_ "github.com/termflow/termflow/pkg/analysis"
)
