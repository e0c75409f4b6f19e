// Package predictpb holds the generated messages and gRPC stubs of
// proto/predict/v1/predict.proto. They are committed so that building needs
// no protoc; to regenerate (protoc, plus the plugins installed into .tools
// with `GOBIN=$PWD/.tools go install google.golang.org/protobuf/cmd/protoc-gen-go@latest
// google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest` from servers/go), run
// `go generate ./predictpb` from servers/go.
package predictpb

//go:generate sh -c "PATH=../.tools:$DOLLAR{PATH} protoc -I ../../../proto --go_out=. --go_opt=paths=source_relative --go_opt=Mpredict/v1/predict.proto=volley/servers/go/predictpb --go-grpc_out=. --go-grpc_opt=paths=source_relative --go-grpc_opt=Mpredict/v1/predict.proto=volley/servers/go/predictpb predict/v1/predict.proto && mv predict/v1/*.pb.go . && rmdir -p predict/v1"
