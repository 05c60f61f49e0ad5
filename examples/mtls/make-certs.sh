#!/bin/sh
# Makes the private CA of the example and one certificate per site, in
# ./certs: ca.pem (the CA, which every site trusts), a.pem/a.key and
# b.pem/b.key. Each site certificate names localhost (both sites run on
# this machine; in a real network, each site's DNS name) and serves both
# as the site's server certificate and as its client certificate.
set -eu
mkdir -p certs
cd certs
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
	-subj "/CN=costlb example CA" -keyout ca.key -out ca.pem
for site in a b; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=site-$site" -keyout $site.key -out $site.csr
	printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > $site.ext
	openssl x509 -req -in $site.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 90 -extfile $site.ext -out $site.pem
	rm $site.csr $site.ext
done
chmod 600 *.key
