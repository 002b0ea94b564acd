//go:build !linux && !darwin

package main

import "os"

// termWidth is unknown here.
func termWidth(*os.File) int { return 0 }
