package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// httpConn is a minimal HTTP/1.1 keep-alive client connection. It writes
// requests built by hand and parses only the status code, the body framing
// (Content-Length or chunked) and "Connection: close" of each answer.
// net/http's client costs several times more CPU per request, and here the
// load generator shares the CPUs with the server it measures.
type httpConn struct {
	addr     string
	deadline time.Time     // for every read and write: a stuck server cannot hang the run
	timeout  time.Duration // if set, a fresh deadline this far ahead for each request instead
	conn     net.Conn
	r        *bufio.Reader
	body     []byte // the last answer's body; reused
}

func newHTTPConn(addr string, deadline time.Time) *httpConn {
	return &httpConn{addr: addr, deadline: deadline}
}

// roundTrip sends one complete request (head and body) and reads the answer.
// The body it returns is valid until the next call. After any error the
// connection is closed, and the next call dials a new one.
func (c *httpConn) roundTrip(req []byte) (status int, body []byte, err error) {
	if c.conn == nil {
		if err := c.dial(); err != nil {
			return 0, nil, err
		}
	}
	if c.timeout > 0 {
		c.conn.SetDeadline(time.Now().Add(c.timeout))
	}
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return 0, nil, fmt.Errorf("write request: %w", err)
	}
	status, body, keepAlive, err := c.readResponse()
	if err != nil || !keepAlive {
		c.close()
	}
	return status, body, err
}

func (c *httpConn) dial() error {
	conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", c.addr, err)
	}
	conn.SetDeadline(c.deadline)
	c.conn = conn
	if c.r == nil {
		c.r = bufio.NewReaderSize(conn, 16<<10)
	} else {
		c.r.Reset(conn)
	}
	return nil
}

func (c *httpConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

var (
	headerContentLength    = []byte("Content-Length")
	headerTransferEncoding = []byte("Transfer-Encoding")
	headerConnection       = []byte("Connection")
	tokenChunked           = []byte("chunked")
	tokenClose             = []byte("close")
)

// readResponse reads one answer. keepAlive is false when the server said it
// will close the connection.
func (c *httpConn) readResponse() (status int, body []byte, keepAlive bool, err error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, fmt.Errorf("read status line: %w", err)
	}
	if status, err = parseStatusLine(line); err != nil {
		return 0, nil, false, err
	}
	length, chunked, keepAlive := -1, false, true
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, headerContentLength):
			if length, err = parseSize(value, 10); err != nil {
				return 0, nil, false, fmt.Errorf("bad Content-Length %q: %w", value, err)
			}
		case bytes.EqualFold(name, headerTransferEncoding):
			chunked = bytes.EqualFold(value, tokenChunked)
		case bytes.EqualFold(name, headerConnection):
			keepAlive = !bytes.EqualFold(value, tokenClose)
		}
	}
	switch {
	case chunked:
		err = c.readChunked()
	case length >= 0:
		err = c.readBody(length)
	default:
		// Only "Connection: close" can delimit such a body; ticketd never
		// answers that way, so treat it as an error rather than guess.
		err = errors.New("answer has neither Content-Length nor chunked encoding")
	}
	if err != nil {
		return 0, nil, false, err
	}
	return status, c.body, keepAlive, nil
}

// parseStatusLine reads the code of "HTTP/1.x NNN Reason".
func parseStatusLine(line []byte) (int, error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	code, err := parseSize(line[9:12], 10)
	if err != nil || code < 100 {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	return code, nil
}

// parseSize parses a non-negative integer without allocating.
func parseSize(b []byte, base int) (int, error) {
	if len(b) == 0 || len(b) > 12 {
		return 0, errors.New("bad number")
	}
	n := 0
	for _, ch := range b {
		d := 0
		switch {
		case '0' <= ch && ch <= '9':
			d = int(ch - '0')
		case base == 16 && 'a' <= ch|0x20 && ch|0x20 <= 'f':
			d = int(ch|0x20-'a') + 10
		default:
			return 0, errors.New("bad number")
		}
		n = n*base + d
	}
	return n, nil
}

func (c *httpConn) readBody(n int) error {
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	c.body = c.body[:n]
	if _, err := io.ReadFull(c.r, c.body); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	return nil
}

// readChunked reads a chunked body into c.body (trailers are skipped).
func (c *httpConn) readChunked() error {
	c.body = c.body[:0]
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read chunk size: %w", err)
		}
		sizeField, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := parseSize(bytes.TrimSpace(sizeField), 16)
		if err != nil {
			return fmt.Errorf("chunk size %q: %w", line, err)
		}
		if size == 0 {
			return c.skipTrailers()
		}
		start := len(c.body)
		c.body = append(c.body, make([]byte, size)...)
		if _, err := io.ReadFull(c.r, c.body[start:]); err != nil {
			return fmt.Errorf("read chunk: %w", err)
		}
		if _, err := c.r.Discard(2); err != nil { // the CRLF after the chunk
			return fmt.Errorf("read chunk: %w", err)
		}
	}
}

func (c *httpConn) skipTrailers() error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read trailer: %w", err)
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}

// appendRequest appends a POST request with a JSON body to dst.
func appendRequest(dst []byte, host, path, key string, body []byte) []byte {
	dst = append(dst, "POST "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nAuthorization: Bearer "...)
	dst = append(dst, key...)
	dst = append(dst, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}
