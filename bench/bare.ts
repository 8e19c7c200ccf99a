/** The baseline: a bare Node `http` server that reads the body and answers 200 with no work. */
import * as Http from "node:http"

const port = Number(process.env.PORT ?? 8090)
Http.createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    response.writeHead(200, { "content-type": "application/json" })
    response.end("{\"ok\":true}")
  })
}).listen(port, "127.0.0.1")
