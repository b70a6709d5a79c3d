package apistream

// Version and Commit are set at build time with -ldflags "-X github.com/apistream/apistream.Version=...".
var (
	Version = "dev"
	Commit  = ""
)
