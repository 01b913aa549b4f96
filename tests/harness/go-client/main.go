// A Go crypto/tls client for the tests: one HTTPS GET through net/http, presenting a
// certificate chain loaded from PEM the way Go programs usually do (tls.LoadX509KeyPair), and
// choosing it by Go's own rules (the CertificateRequest's acceptable CAs). It connects to a
// fixed address, so no name is resolved.
//
//	go-client ADDR SERVER_NAME ROOT_PEM CERT_PEM KEY_PEM PATH
//
// Prints the status code on the first line, then the body.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: go-client ADDR SERVER_NAME ROOT_PEM CERT_PEM KEY_PEM PATH")
		os.Exit(2)
	}
	addr, name, rootFile, certFile, keyFile, path := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5], os.Args[6]
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		fail(err)
	}
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		fail(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		fail(fmt.Errorf("no certificate in %s", rootFile))
	}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: name, RootCAs: roots, Certificates: []tls.Certificate{cert}},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + name + path)
	if err != nil {
		fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%d\n%s", resp.StatusCode, body)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
