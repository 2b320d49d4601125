module github.com/termflow/termflow/tools

go 1.26.0

require github.com/termflow/termflow/pkg v0.0.0

require gopkg.in/yaml.v3 v3.0.1

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/twmb/franz-go v1.22.3 // indirect
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.1 // indirect
	go.mongodb.org/mongo-driver/v2 v2.10.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/termflow/termflow/pkg => ../pkg
