// Package wsraw is a WebSocket client by hand (RFC 6455, HTTP/1.1), for the
// checks: it writes any frame, hostile ones included, and reads the server's
// frames as they are, close codes included, which x/net/websocket's client
// does not show.
package wsraw

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Opcodes.
const (
	Text   = 1
	Binary = 2
	Close  = 8
	Ping   = 9
	Pong   = 10
)

// Conn is one client connection.
type Conn struct {
	C net.Conn
	r *bufio.Reader
}

// Dial connects to hostPort, upgrades GET path, and sets a deadline for
// everything that follows.
func Dial(hostPort, path string, deadline time.Duration) (*Conn, error) {
	c, err := net.Dial("tcp", hostPort)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(deadline))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", path, hostPort)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		c.Close()
		return nil, fmt.Errorf("handshake answered %s", resp.Status)
	}
	return &Conn{c, r}, nil
}

// Write sends one masked frame with FIN set.
func (w *Conn) Write(opcode byte, payload []byte) error {
	head := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n <= 125:
		head = append(head, 0x80|byte(n))
	case n <= 0xffff:
		head = append(head, 0x80|126, byte(n>>8), byte(n))
	default:
		head = append(head, 0x80|127)
		head = binary.BigEndian.AppendUint64(head, uint64(n))
	}
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	head = append(head, mask...)
	for i, b := range payload {
		head = append(head, b^mask[i%4])
	}
	_, err := w.C.Write(head)
	return err
}

// Read returns the server's next frame; io.EOF at the connection's end.
// Frames over maxLen are an error, not read.
func (w *Conn) Read(maxLen uint64) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(w.r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(w.r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("the server masked a frame")
	}
	if n > maxLen {
		return 0, nil, fmt.Errorf("a frame of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(w.r, payload); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, payload, nil
}

// CloseCode reads the next frame and returns its close code, or an error if
// it is not a close with a code.
func (w *Conn) CloseCode() (int, error) {
	op, p, err := w.Read(125)
	if err != nil {
		return 0, err
	}
	if op != Close || len(p) < 2 {
		return 0, fmt.Errorf("want a close, got opcode %d %q", op, p)
	}
	return int(binary.BigEndian.Uint16(p)), nil
}
