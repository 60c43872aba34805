import XCTest
final class PlaceholderFovExExplainersTests: XCTestCase { func testNothing() {} }
