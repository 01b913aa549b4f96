module portcullis.test/go-client

go 1.22
