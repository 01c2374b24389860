// Package e2e runs the sidecar for real: two pods as network namespaces
// (localpod), outrider-init's redirect rules in each, `outrider-proxy
// --sidecar` in each as UID 1337, and an application on either side. The
// client application is this test process dialing from inside the client
// pod; the server application is this test process serving from sockets in
// the server pod. Every connection crosses both sidecars without either
// application knowing. The tests need root (they skip without it, and fail
// in CI, where root is available).
package e2e
