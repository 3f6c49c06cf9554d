import Foundation
import FusionData
import XCTest

/// multipart/form-data as browsers and curl send it, and the malformed bodies a server gets.
final class MultipartFormTests: XCTestCase {
    func body(_ text: String) -> Data { Data(text.replacingOccurrences(of: "\n", with: "\r\n").utf8) }

    func testBoundaryFromContentType() {
        XCTAssertEqual(MultipartForm.boundary(contentType: "multipart/form-data; boundary=----x1"), "----x1")
        XCTAssertEqual(MultipartForm.boundary(contentType: "Multipart/Form-Data; charset=utf-8; Boundary=\"a b\""), "a b")
        XCTAssertNil(MultipartForm.boundary(contentType: "application/json"))
        XCTAssertNil(MultipartForm.boundary(contentType: "multipart/form-data"))
        XCTAssertNil(MultipartForm.boundary(contentType: "multipart/form-data; boundary=" + String(repeating: "b", count: 71)))
    }

    func testPartsWithFilesQuotedNamesPreambleAndBinaryBodies() throws {
        var data = body("""
        preamble to ignore
        --XyZ
        Content-Disposition: form-data; name="text"

        a red square; with "quotes"
        --XyZ
        Content-Disposition: form-data; name="image"; filename="cat; 1.png"
        Content-Type: image/png


        """)
        data.append(Data([0x89, 0x50, 0x0D, 0x0A, 0x2D, 0x2D, 0x00]))  // CRLF-- inside a body is not a boundary
        data.append(body("\n--XyZ\nContent-Disposition: form-data; name=\"empty\"\n\n\n--XyZ--\nepilogue"))
        let form = try MultipartForm(body: data, boundary: "XyZ")
        XCTAssertEqual(form.parts.map(\.name), ["text", "image", "empty"])
        XCTAssertEqual(String(decoding: try XCTUnwrap(form["text"]).body, as: UTF8.self), "a red square; with \"quotes\"")
        XCTAssertEqual(form["image"]?.filename, "cat; 1.png")
        XCTAssertEqual(form["image"]?.contentType, "image/png")
        XCTAssertEqual(form["image"].map { [UInt8]($0.body) }, [0x89, 0x50, 0x0D, 0x0A, 0x2D, 0x2D, 0x00])
        XCTAssertEqual(form["empty"]?.body.count, 0)
    }

    func testMalformedBodiesSayWhatIsWrong() {
        func fails(_ text: String, _ words: String, maxParts: Int = 16, line: UInt = #line) {
            XCTAssertThrowsError(try MultipartForm(body: body(text), boundary: "B", maxParts: maxParts), line: line) { error in
                XCTAssertTrue("\(error)".contains(words), "\(error)", line: line)
            }
        }
        fails("no boundary here", "expected the boundary \"--B\"")
        fails("--B\nContent-Disposition: form-data; name=\"a\"\n\nno end", "no closing boundary")
        fails("--B\nContent-Disposition: form-data; name=\"a\"", "headers never end")
        fails("--B\nContent-Type: text/plain\n\nx\n--B--", "name=")
        fails("--B\nContent-Disposition: attachment; name=\"a\"\n\nx\n--B--", "form-data")
        fails("--B\nnot a header\n\nx\n--B--", "has no \":\"")
        fails("--Bjunk", "line break after the boundary")
        fails(String(repeating: "--B\nContent-Disposition: form-data; name=\"a\"\n\nx\n", count: 3) + "--B--", "more than 2 parts", maxParts: 2)
    }
}
