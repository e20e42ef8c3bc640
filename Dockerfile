# syntax=docker/dockerfile:1
# sealgate: one static binary on a distroless, non-root base. The Helm chart runs this image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/sealgate/sealgate/pkg/cli.Version=${VERSION}" \
      -o /out/sealgate ./cmd/sealgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sealgate /sealgate
USER 65532:65532
ENTRYPOINT ["/sealgate"]
CMD ["serve"]
