#!/bin/sh
echo "setup $*"
