//go:build tools

// Package tools pins the Node.js language host. Its own Go module
// (sdk/nodejs/cmd/pulumi-language-nodejs) is not published to the module
// proxy; v3.68.0 is the newest sdk/v3 release that still carries it.
package tools

import _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"
