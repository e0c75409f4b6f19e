// Command predict-grpc serves predict.v1.Predictor (Predict and
// PredictStream) over gRPC, with the standard health service and server
// reflection, answering exactly like the Rust predict-grpc.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"volley/servers/go/internal/cli"
	"volley/servers/go/model"
	pb "volley/servers/go/predictpb"
)

type predictor struct {
	pb.UnimplementedPredictorServer
	model atomic.Pointer[model.Model]
}

func (p *predictor) Predict(_ context.Context, req *pb.PredictRequest) (*pb.PredictResponse, error) {
	return p.answer(req.GetText())
}

// PredictStream answers each text as soon as it is read, so that a client
// may wait for one answer before it sends the next text. Every text gets
// what Predict would answer, and the first refused one ends the call with
// Predict's status, after the answers to the texts before it.
func (p *predictor) PredictStream(stream pb.Predictor_PredictStreamServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil // the client half-closed: every text has its answer
		}
		if err != nil {
			// Already a status (a message that does not decode, a client that
			// went away): it ends the call as it is.
			return err
		}
		resp, err := p.answer(req.GetText())
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// answer is Predict for one text; PredictStream answers each of its texts
// the same way, so that the two methods cannot drift apart.
func (p *predictor) answer(text string) (*pb.PredictResponse, error) {
	m := p.model.Load()
	if m == nil {
		return nil, status.Error(codes.Unavailable, "the model is still loading")
	}
	if text == "" {
		return nil, status.Error(codes.InvalidArgument, "text must not be empty")
	}
	if len(text) > model.MaxTextBytes {
		return nil, status.Error(codes.InvalidArgument,
			fmt.Sprintf("text is %d bytes; the limit is %d", len(text), model.MaxTextBytes))
	}
	c, label := m.Predict(text)
	return &pb.PredictResponse{Category: int32(c), Label: label}, nil
}

func main() {
	const name = "predict-grpc"
	start := cli.Start(name, "PREDICT_GRPC_ADDR", "127.0.0.1:50051")
	opts, logger, ctx, ln := start.Opts, start.Logger, start.Ctx, start.Listener
	defer start.Stop()
	srv := grpc.NewServer()
	svc := &predictor{}
	pb.RegisterPredictorServer(srv, svc)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	hs.SetServingStatus(pb.Predictor_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv) // v1 and v1alpha
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	m, path, err := opts.LoadModel()
	if err != nil {
		logger.Fatalf("%s: %v", name, err)
	}
	svc.model.Store(m)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(pb.Predictor_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	logger.Print(cli.StartLine(name, ln.Addr().String(), path, m))

	select {
	case <-ctx.Done():
	case err := <-served:
		logger.Fatalf("%s: %v", name, err)
	}
	logger.Printf("%s stopping: no new connections, draining requests in flight", name)
	hs.Shutdown()
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(cli.DrainTimeout):
		logger.Printf("requests still in flight after %v; exiting anyway", cli.DrainTimeout)
		srv.Stop()
	}
	logger.Printf("%s stopped", name)
	os.Exit(0)
}
