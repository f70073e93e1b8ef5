#!/bin/sh
# Runs inside the image (no interpreter given: the file runs itself).
echo "post args=$1,$2 env=$PXF_VAR" > /var/lib/pxf-post.txt
