// Package predictpb holds the generated messages and gRPC stubs of
// proto/predict/v1/predict.proto. They are committed so that building needs
// no protoc; to regenerate (protoc, plus the plugins installed into .tools
// from servers/go with `GOBIN=$PWD/.tools go install
// google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12` and `GOBIN=$PWD/.tools
// go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2`, the
// versions in the headers; README.md shows how to use grpcio-tools' protoc),
// run `go generate ./predictpb` from servers/go.
package predictpb

//go:generate sh -c "PATH=../.tools:$DOLLAR{PATH} protoc -I ../../../proto --go_out=. --go_opt=paths=source_relative --go_opt=Mpredict/v1/predict.proto=volley/servers/go/predictpb --go-grpc_out=. --go-grpc_opt=paths=source_relative --go-grpc_opt=Mpredict/v1/predict.proto=volley/servers/go/predictpb predict/v1/predict.proto && mv predict/v1/*.pb.go . && rmdir -p predict/v1"
