// Package protogen regenerates the Go code of the plugin protocol from
// proto/channel/v1/channel.proto without a system protoc: the .proto file is
// compiled in Go (bufbuild/protocompile) and handed to the pinned
// protoc-gen-go and protoc-gen-go-grpc tools declared in go.mod, so that the
// generated code depends only on versions recorded in the module.
package protogen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// Sources lists the .proto files, relative to the proto/ directory.
var Sources = []string{"channel/v1/channel.proto"}

// generators are the go tools run on the compiled files, with their options.
var generators = []struct{ tool, param string }{
	{"protoc-gen-go", "paths=source_relative"},
	{"protoc-gen-go-grpc", "paths=source_relative,require_unimplemented_servers=true"},
}

// Generate compiles the protocol sources under root/proto and returns the
// generated files, keyed by path relative to root.
func Generate(ctx context.Context, root string) (map[string][]byte, error) {
	protoDir := filepath.Join(root, "proto")
	comp := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: []string{protoDir},
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := comp.Compile(ctx, Sources...)
	if err != nil {
		return nil, fmt.Errorf("compile protocol: %w", err)
	}
	var all []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		all = append(all, protodesc.ToFileDescriptorProto(fd))
	}
	for _, f := range files {
		add(f)
	}
	out := map[string][]byte{}
	for _, g := range generators {
		req := &pluginpb.CodeGeneratorRequest{
			FileToGenerate: Sources,
			Parameter:      proto.String(g.param),
			ProtoFile:      all,
		}
		in, err := proto.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("marshal request: %w", err)
		}
		cmd := exec.CommandContext(ctx, "go", "tool", g.tool)
		cmd.Dir = root
		cmd.Stdin = bytes.NewReader(in)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go tool %s: %w: %s", g.tool, err, stderr.String())
		}
		var resp pluginpb.CodeGeneratorResponse
		if err := proto.Unmarshal(stdout.Bytes(), &resp); err != nil {
			return nil, fmt.Errorf("%s response: %w", g.tool, err)
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("%s: %s", g.tool, resp.GetError())
		}
		for _, f := range resp.File {
			out[filepath.Join("proto", f.GetName())] = []byte(f.GetContent())
		}
	}
	return out, nil
}

// Write generates the code and writes it under root.
func Write(ctx context.Context, root string) error {
	files, err := Generate(ctx, root)
	if err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), content, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
