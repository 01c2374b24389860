//go:build !linux

package main

// dropStartupPages is Linux-only (it reads /proc/self/smaps).
func dropStartupPages() {}
